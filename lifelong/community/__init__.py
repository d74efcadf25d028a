"""Community: clubs for the best customers (Telegram groups, VK conversations), activity, lift."""
