"""Telegram: Bot API transport, chat linking and the bot webhook."""
