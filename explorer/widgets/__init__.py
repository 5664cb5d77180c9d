"""Small reusable Qt widgets and helpers shared by the window and its panels."""
