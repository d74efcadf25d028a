"""The demo shop «Прана»: a believable history of customers, orders and staff work.

Not a Django app: plain modules that write through the real models, so the staff UI
shows what a real shop's import would have produced.
"""
