"""The HTTP face of facwatch: routes for engineers and ticket systems, auth, server-sent events, the board.

``api.main.create_app(services)`` builds the app; ``api.server.serve(app, host, port)`` runs it in a thread.
"""
