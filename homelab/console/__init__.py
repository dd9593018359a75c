"""The operator's console: status, diff and logs of the hosts, reached as pyinfra reaches them."""
