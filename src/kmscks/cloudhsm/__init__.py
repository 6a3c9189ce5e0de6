"""The simulated CloudHSM control plane: clusters, HSMs, backups, the subnets they use, and the
`kmsuser` crypto user inside the HSMs.

Real clients drive it through the CloudHSM v2 API (api.py, served like KMS from botocore's
`cloudhsmv2` model); what AWS does inside the HSM or the VPC is done with admin operations
(admin.py, `cks cloudhsm ...`). KMS's cluster checks read it through connectors/cloudhsm.py.
Must not import kmscks.api.
"""
