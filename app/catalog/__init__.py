"""The product catalog: products (recurring or one-time) and their prices."""
