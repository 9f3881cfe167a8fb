"""tubeworks.worker"""
