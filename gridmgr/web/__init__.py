"""The web shell both doors share: logins, sessions and the headers every page gets."""
