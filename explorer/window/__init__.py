"""The main window: its docks and their layout, the menus and shortcuts, the model it
explores and its secondary windows. The entry point is ``main_window.MainWindow``; it is
not imported here because pyqtgraph wants a QApplication first (``explorer.app`` makes one,
then imports it)."""
