"""Sources: where deliveries come from and how each one walks into the warehouse.

`landing` (which files wait, in what order; claims; archive and rejected moves), `ingest`
(the validate and load steps over every waiting file, a window at a time), `load` (one
window's checks and writes), `mesh` (pulling an NHS MESH mailbox into the landing folder:
`mesh_client`, `mesh_files`) and `reprocess` (queueing rejected or quarantined files again).
"""
