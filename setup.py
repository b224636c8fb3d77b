from setuptools import find_packages, setup

setup(
    name="slowfast_det",
    version="0.1.0",
    description="SlowFast networks for AVA spatio-temporal action detection on Detectron2",
    packages=find_packages(include=["slowfast_det", "slowfast_det.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",
        "torchvision",
        "fvcore",
        "iopath",
        "pycocotools",
        "opencv-python-headless",
        "pandas",
        "tqdm",
    ],
)
