"""The key holder (#13): one organisation's share of split OPRF keys, served to nodes.

Run by organisations independent of the network operator, so nothing here imports or holds
anything of the coordinator; it shares only the runtime in samenloop.proto.
"""
