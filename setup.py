"""rcnreid: reproduction of Wu, Shen & van den Hengel, "Deep Recurrent Convolutional
Networks for Video-based Person Re-identification: An End-to-End Approach" (arXiv 1606.01609).

The stack is pinned to what Theano-PyMC 1.1.2 runs on with Python 3.11 (see README.rst):
numpy 1.23 (numpy >= 1.24 removed ``np.bool``; numpy 2 breaks Theano's C code), scipy < 1.12,
and setuptools < 70 in the environment because Theano imports ``pkg_resources``.
"""
from setuptools import find_packages, setup

setup(
    name="rcnreid",
    version="0.1.0",
    description="Deep recurrent convolutional networks for video-based person re-identification "
                "(reproduction of arXiv 1606.01609) on Theano",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.9,<3.12",
    packages=find_packages(include=["rcnreid", "rcnreid.*", "data_prep", "data_prep.*",
                                    "experiments"]),
    include_package_data=True,
    package_data={"rcnreid": ["*.json", "backend/cuda/*.h", "backend/onednn/*.c"]},
    install_requires=[
        "Theano-PyMC==1.1.2",
        "numpy>=1.23,<1.24",
        "scipy>=1.9,<1.12",
        "h5py>=3.7,<3.12",
        "pillow>=9",
        "matplotlib>=3.5,<3.9",
        # Well-kept libraries for jobs we should not rewrite (issue 6): Gaussian mixtures, PCA
        # and linear SVMs; dense optical flow for the walking-cycle landmarks.
        "scikit-learn>=1.1,<1.6",
        "opencv-python-headless>=4.6,<4.12",
        "setuptools<70",
    ],
    # pytest-xdist runs the test files in two processes: the suite is bound by single-threaded
    # graph optimisation and C compilation, so two cores halve its wall time (make test).
    extras_require={"test": ["pytest>=7", "pytest-xdist>=3.5,<4"]},
    entry_points={
        "console_scripts": ["rcnreid=rcnreid.cli:main"],
        # Sub-commands of `rcnreid` that live outside the library (rcnreid.cli reads this group
        # besides rcnreid/commands/): the library never imports data_prep or experiments.
        "rcnreid.commands": ["prepare = data_prep.command"],
    },
)
