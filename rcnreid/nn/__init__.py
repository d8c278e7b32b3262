"""The network of Fig. 2 in Theano: blocks (``layers``, ``init``), the convolutional encoder
(Table 1), the one GRU step of Eqs. 1/2 (``gru_step``), the ConvGRU of Eqs. 2-3 and its
hand-written BPTT, the FC-GRU (Eq. 1), temporal pooling (Eq. 4, Table 3; Fisher vectors in
``fisher``), the similarity and loss of Eqs. 5-6, the Siamese model (``model``, configured by
``model_config``), its update rules (``optim``) and the layer table (``summary``)."""
