"""Fisher vectors of a diagonal Gaussian mixture (the "improved" Fisher vector).

Perronnin, Sánchez and Mensink, "Improving the Fisher kernel for large-scale image
classification", ECCV 2010. Shared by Table 3's Fisher-vector pooling and the FV2D / FV3D /
STFV3D representations of Tables 4 and 5.

For a GMM with weights w_k, means mu_k and standard deviations sigma_k (diagonal), and a set of
local descriptors x_1..x_T with posteriors gamma_t(k), the two gradient blocks per component are

    G_mu_k    = 1 / (T sqrt(w_k))   * sum_t gamma_t(k) (x_t - mu_k) / sigma_k
    G_sigma_k = 1 / (T sqrt(2 w_k)) * sum_t gamma_t(k) [((x_t - mu_k) / sigma_k)^2 - 1]

(the Fisher-information-normalised gradients w.r.t. the means and the standard deviations). The
vector is ``[G_mu_1 .. G_mu_K, G_sigma_1 .. G_sigma_K]`` (2*D*K values, component-major inside each
block), then the power normalisation sign(z) sqrt(|z|) and the L2 normalisation. The gradients
w.r.t. the mixture weights are left out, as in the paper above.
"""
import numpy as np

from rcnreid.errors import UserError


class FisherVectorEncoder:
    """Fit a diagonal GMM on local descriptors; encode a set of descriptors as a Fisher vector.

    ``n_components`` K, ``seed`` for the GMM's k-means initialisation, ``max_iter`` and
    ``reg_covar`` passed to :class:`sklearn.mixture.GaussianMixture`. ``power_normalize`` and
    ``l2_normalize`` switch the two normalisations of the improved FV (both on by default).
    """

    def __init__(self, n_components=16, seed=0, max_iter=100, reg_covar=1e-6, n_init=1,
                 power_normalize=True, l2_normalize=True):
        self.n_components = int(n_components)
        self.seed = seed
        self.max_iter = max_iter
        self.reg_covar = reg_covar
        self.n_init = n_init
        self.power_normalize = power_normalize
        self.l2_normalize = l2_normalize
        self.gmm_ = None

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X, y=None):
        """Fit the diagonal GMM on ``X`` (N, D) local descriptors; returns ``self`` (``y`` is
        ignored: scikit-learn's signature for unsupervised estimators)."""
        from sklearn.mixture import GaussianMixture
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise UserError("FisherVectorEncoder.fit: descriptors must be an (N, D) array, got "
                            "shape %s; reshape them" % (X.shape,))
        if self.n_components < 1:
            raise UserError("FisherVectorEncoder: n_components must be >= 1, got %d"
                            % self.n_components)
        if len(X) < self.n_components:
            raise UserError("FisherVectorEncoder.fit: %d descriptors for %d components; use more "
                            "training descriptors or fewer components" % (len(X), self.n_components))
        if not np.all(np.isfinite(X)):
            raise UserError("FisherVectorEncoder.fit: descriptors contain NaN or inf; clean the "
                            "input features")
        gmm = GaussianMixture(n_components=self.n_components, covariance_type="diag",
                              max_iter=self.max_iter, reg_covar=self.reg_covar,
                              n_init=self.n_init, random_state=self.seed)
        gmm.fit(X)
        self.gmm_ = gmm
        return self

    def _check_fitted(self):
        if self.gmm_ is None:
            raise UserError("FisherVectorEncoder: call fit() on training descriptors before "
                            "encode()")

    @property
    def weights(self):
        """(K,) mixture weights w_k."""
        self._check_fitted()
        return self.gmm_.weights_

    @property
    def means(self):
        """(K, D) means mu_k."""
        self._check_fitted()
        return self.gmm_.means_

    @property
    def sigmas(self):
        """(K, D) standard deviations sigma_k (square roots of the diagonal covariances)."""
        self._check_fitted()
        return np.sqrt(self.gmm_.covariances_)

    @property
    def n_features(self):
        """D, the local descriptor length the GMM was fitted on."""
        self._check_fitted()
        return self.gmm_.means_.shape[1]

    @property
    def dim(self):
        """2 * D * K, the length of a Fisher vector."""
        return 2 * self.n_features * self.n_components

    # -- encoding --------------------------------------------------------------------------

    def posteriors(self, x):
        """(T, D) -> (T, K) soft assignments gamma_t(k)."""
        self._check_fitted()
        return self.gmm_.predict_proba(x)

    def raw_gradients(self, x):
        """(T, D) -> (2*D*K,) float64 ``[G_mu, G_sigma]`` before any normalisation."""
        x = np.asarray(x, dtype=np.float64)
        self._check_fitted()
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise UserError("FisherVectorEncoder.encode: expected (n, %d) descriptors, got shape "
                            "%s" % (self.n_features, x.shape))
        T = len(x)
        if T == 0:
            return np.zeros(self.dim)
        w, mu, sigma = self.weights, self.means, self.sigmas
        gamma = self.posteriors(x)                                  # (T, K)
        # Zeroth, first and second order statistics; sums over t without a (T, K, D) array.
        s0 = gamma.sum(axis=0)[:, None]                             # (K, 1)
        s1 = gamma.T @ x                                            # (K, D)
        s2 = gamma.T @ (x * x)                                      # (K, D)
        g_mu = (s1 - s0 * mu) / sigma
        g_sig = (s2 - 2.0 * mu * s1 + s0 * mu * mu) / (sigma * sigma) - s0
        g_mu /= (T * np.sqrt(w))[:, None]
        g_sig /= (T * np.sqrt(2.0 * w))[:, None]
        return np.concatenate([g_mu.ravel(), g_sig.ravel()])

    def normalize(self, v):
        """Signed square root then L2 (each as switched on); a zero vector stays zero."""
        v = np.asarray(v, dtype=np.float64)
        if self.power_normalize:
            v = np.sign(v) * np.sqrt(np.abs(v))
        if self.l2_normalize:
            n = np.linalg.norm(v)
            if n > 0:
                v = v / n
        return v

    def encode(self, x):
        """(n, D) local descriptors -> (2*D*K,) float32 improved Fisher vector.

        An empty set of descriptors (n = 0) encodes as the zero vector.
        """
        return self.normalize(self.raw_gradients(x)).astype(np.float32)

    def encode_many(self, sets):
        """List of (n_i, D) arrays -> (M, 2*D*K) float32."""
        self._check_fitted()
        out = np.zeros((len(sets), self.dim), dtype=np.float32)
        for i, x in enumerate(sets):
            out[i] = self.encode(x)
        return out
