"""Registry of the numpy reference kernels, by the kernel names of int8rt/program.py.
Each is called as fn(*input_arrays, **consts, **params) and returns the output array."""
