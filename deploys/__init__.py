"""pyinfra deploys: ``pyinfra inventory.py deploys/site.py`` converges both hosts."""
