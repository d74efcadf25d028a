"""SMS: SMS.ru and a generic HTTP gateway."""
