"""The node's web app and HTTP API for procesregisseurs, beheerders and auditors."""
