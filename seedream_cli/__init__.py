"""``seedream``: the command line for the jobs API (submit, wait, get, cancel, list, events, models, doctor).

A client only: it signs requests with SigV4 like any other caller and never imports the Lambda
layer or the local stack (``local.stack``). ``seedream --help`` lists the commands.
"""
