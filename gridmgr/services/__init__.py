"""Use cases: the only package besides ``store`` that opens it; API, CLI and dashboard call them."""
