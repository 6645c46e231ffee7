"""The live provider adapters against a loopback fake of the providers' HTTP APIs."""
