"""Hand-crafted video representations for Tables 4 and 5 (HOG3D, FV2D, FV3D, STFV3D, GEI, DVR,
colour histograms), each a function or estimator ``sequence -> vector`` on uint8 (L, H, W, 3)
frames."""
