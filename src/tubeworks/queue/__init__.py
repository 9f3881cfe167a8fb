"""tubeworks.queue"""
