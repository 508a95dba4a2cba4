"""Code shared by the bridge app's functions (imported absolutely: the app root is on sys.path)."""
