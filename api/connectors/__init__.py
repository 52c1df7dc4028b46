"""Chat connectors: platform callbacks checked for their signature and turned into chat messages."""
