"""Guards for infra/ and the deployment path (Bicep cannot be compiled on these machines)."""
