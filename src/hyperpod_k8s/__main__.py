from hyperpod_k8s.cli.app import main

main()
