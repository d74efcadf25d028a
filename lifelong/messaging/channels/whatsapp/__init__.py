"""WhatsApp Cloud API: transport and webhook."""
