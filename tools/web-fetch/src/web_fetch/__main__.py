from web_fetch.server import main

main()
