"""deepdeconv: train image GANs with TensorFlow/Keras, sample from them, measure them."""
__version__ = "0.1.0"
