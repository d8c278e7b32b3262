"""VGG-16 for the "VGG 16 + FC-GRU" row of Table 2: the network (``vgg16``), its weights
(``weights``, ``weights_convert``), fine-tuning on VIPeR (``finetune``, Section 5.3) and fc7
extraction (``fc7``)."""
