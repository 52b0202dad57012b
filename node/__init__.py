"""The ZVH node: registry, Lookup server, import, web app."""
