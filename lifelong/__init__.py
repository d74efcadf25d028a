"""Lifelong: customer retention and loyalty platform."""
