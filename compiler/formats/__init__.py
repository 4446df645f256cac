"""Reading the files models come in (ONNX protobuf, NIR HDF5) with clear errors: below the IR,
so that the weight store and the frontend both read through them."""
