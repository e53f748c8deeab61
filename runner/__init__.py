"""The local runner: template.yaml's functions, invoked in-process with their real trigger events.

No Docker here or in CI, so `stockinsight` reads the SAM template and calls the same
`lambda_handler`s the images run, with the event shapes API Gateway, EventBridge
Scheduler and SQS send.
"""
