"""rcnreid: reproduction of Wu, Shen & van den Hengel, "Deep Recurrent Convolutional
Networks for Video-based Person Re-identification: An End-to-End Approach" (arXiv 1606.01609).

The stack is pinned per Python (docs/INSTALL.md): Theano-PyMC 1.1.2 was written for numpy
1.23, which has wheels up to Python 3.11; Python 3.12 gets numpy 1.26 and 3.13 numpy 2, with
the run-time repairs of rcnreid/backend/theano_fixes.py for what those numpys removed. setuptools < 70
stays in the environment because Theano imports ``pkg_resources`` and, on 3.12+, ``distutils``.
Theano-PyMC itself is installed first by scripts/install_theano.py (its sdist's build script
needs a repair on Python >= 3.12).
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
    python_requires=">=3.9,<3.14",
    packages=find_packages(include=["rcnreid", "rcnreid.*", "data_prep", "data_prep.*",
                                    "experiments"]),
    include_package_data=True,
    package_data={"rcnreid": ["*.json", "backend/cuda/*.h", "backend/onednn/*.c"]},
    install_requires=[
        "Theano-PyMC==1.1.2",
        "filelock",                                   # Theano's own (installed --no-deps)
        "numpy>=1.23,<1.24; python_version<'3.12'",
        "numpy>=1.26,<1.27; python_version=='3.12'",
        "numpy>=2.1,<2.3; python_version>='3.13'",
        "scipy>=1.9,<1.12; python_version<'3.13'",
        "scipy>=1.14.1,<1.16; python_version>='3.13'",
        "h5py>=3.7,<3.12; python_version<'3.13'",
        "h5py>=3.12,<3.14; python_version>='3.13'",
        "pillow>=9",
        "matplotlib>=3.5,<3.9; python_version<'3.13'",
        "matplotlib>=3.9.1,<3.10; python_version>='3.13'",
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
