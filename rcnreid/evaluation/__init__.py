"""Evaluation: CMC, mAP and ties (``cmc``), evaluating a trial (``evaluate``), writing
representations (``extract``) and ranking folders of frames (``rank_folders``)."""
