"""The shipped process declarations (DOMAIN.md section 7): one TOML file per kind."""
