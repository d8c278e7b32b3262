"""Training: the epoch loop shared by both trainers (``epoch_loop``), training the Siamese RCN
(``train``), checkpoints (``checkpoint``), the per-epoch log (``trainlog``), stopping on a signal
(``interrupt``) and preparing the next mini-batch in the background (``prefetch``)."""
