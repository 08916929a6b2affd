"""Admin commands (placeholder)."""


def init_app(app):
    pass
