"""Views of the staff UI, one module per area; each view is wrapped in `access.require`."""
