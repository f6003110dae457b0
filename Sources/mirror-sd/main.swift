print("mirror-sd")
