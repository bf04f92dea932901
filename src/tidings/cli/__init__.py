"""The operator CLI ``tidings``: one typer sub-app per module, registered in ``main``."""
