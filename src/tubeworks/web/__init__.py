"""tubeworks.web"""
