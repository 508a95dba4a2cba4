"""Code shared by the sample functions, imported absolutely (the app root is on sys.path)."""
