"""MAX messenger: bot API transport and webhook."""
