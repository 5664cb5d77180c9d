"""Reading and writing the files the app keeps: images, atomic writes, cache folders."""
