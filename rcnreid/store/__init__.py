"""Files on disk: "may I write here" and atomic writers (``atomic``); advisory locks on run
folders and outputs (``locks``)."""
