"""VK: community messages and the Callback API."""
