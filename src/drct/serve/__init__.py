"""drct.serve: running a trained (or imported) detector on a user's own images (``drct predict``)."""
