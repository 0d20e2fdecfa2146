"""Planning methods. Each takes an imported Graph and options and returns a validated-ready Plan."""
